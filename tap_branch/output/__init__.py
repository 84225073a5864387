"""What leaves the tap: the message writer, batch files, progress lines and the SDK shim."""
