"""Data sets, downloads (pooch with known hashes), audio features and speech synthesis."""
