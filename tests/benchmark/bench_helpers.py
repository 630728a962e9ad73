"""Texts of the tiny generated corpus, shared by its fixture (conftest) and the tests."""

HEADER = "id\tkind\tfile\tgroundtruth_file\tgroundtruth_format\tlanguage\tcontent\tpages\n"
INVOICE = "Invoice INV-2024-117 dated 2024-03-15, total 1,250.00 EUR"
TABLE = "<table><tr><td>Item</td><td>Price</td></tr><tr><td>Paper</td><td>12.50</td></tr></table>"
FORMULA = "The area is $A = \\pi r^2$ for a radius of 25 mm."
