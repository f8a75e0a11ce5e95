"""Points (Consumer API, reference C.9): a merchant's points experience, its points products,
a member's balance, and the exchange of points for a reward."""
