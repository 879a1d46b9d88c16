"""The Summary and Code screens: the generated code and the files to download."""
