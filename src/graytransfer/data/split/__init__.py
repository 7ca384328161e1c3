"""Splitting a data set into train / val / test, seeded and stratified.

`by_class` (stratified splits of class indices) and `stratify` (the one entry point
`split_indices`: multi-label iterative stratification, patient groups kept in one split, and
seeded subsets).

Imports nothing of `graytransfer.data` outside this package.
"""
