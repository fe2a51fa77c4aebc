"""The key hierarchy: a master key (KEK) wraps one data key (DEK) per patient and organisation."""
