"""The sidebar's project box: open, save and import files, and the work kept in the browser."""
