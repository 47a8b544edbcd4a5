"""stemdm.sim: mechanistic simulator of type 2 diabetes with stem-cell therapy modules (work in progress)."""
