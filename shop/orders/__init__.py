"""Cart, checkout and orders: from a visitor's cart to a paid order holding reserved stock."""
