"""Factor library: small modules that score exposure to the localization premium and to dilution risk."""
