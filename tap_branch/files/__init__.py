"""Export files: download, gunzip, checks and the parsers that turn a file into rows."""
