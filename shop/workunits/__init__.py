"""Work units (直接采购): unit accounts, verification, quotas, account, bulk orders, invoices, pickup cards."""
