"""Orders as spreadsheet rows (docs/bulk-files.md): the column mapping of each order format, derived
from its JSON Schema (``columns``), the Chinese headers (``labels``), and rows to order JSON and back
(``rows``). Pure: no file is opened here (gateway/adapters/sheets.py reads and writes them)."""
