"""Records: typing cells, JSON shapes, the columnar typer and the streams' schemas."""
