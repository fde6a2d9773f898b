"""From run outputs to what a reader sees: results tables, LaTeX tables, figures, comparisons."""
