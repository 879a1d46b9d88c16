"""The Build screen: the canvas (and its events and drawing), the palette, the inspector, the header and the
breadcrumb into blocks."""
