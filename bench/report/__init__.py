"""Reports: the comparison tables, plots, sample grids and their markdown/HTML renderings, from run directories."""
