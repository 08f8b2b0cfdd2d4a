"""The science of vitrify: compositions, features, models, acquisition.

Pure Python (numpy, scikit-learn, pymatgen data): no database, Prefect or Ray imports,
so everything here is testable in milliseconds and usable from a notebook.
"""
