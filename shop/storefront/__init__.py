"""The buyer's storefront: where they get their goods (hall or delivery), the address book, order timelines,
QR codes and short links (docs/storefront.md)."""
