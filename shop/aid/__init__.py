"""Aid accounting: programmes, the aid ledger, rollups, totals and exports."""
