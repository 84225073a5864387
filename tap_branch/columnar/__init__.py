"""The columnar file path: csv.gz export files read, typed and written a batch of rows at a time.

- `csv_batches`: the file's rows as batches of text columns (pyarrow's streaming CSV reader);
- `encode`: a column of cells to the JSON text of their typed values;
- `records`: the batches' records as JSON text, equal to the row path's (`tap_branch.typing`);
- `batches`: Singer BATCH files written from those records.

The row path stays the reference and the fallback: a cell, a column or the rest of a file
this path does not recognise is typed by the row path's own code.
"""
