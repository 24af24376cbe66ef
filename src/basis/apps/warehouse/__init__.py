"""Warehouse: catalogue with SKU/QR/barcodes, an append-only stock ledger, inventory checks, low stock."""
