"""Who handles a case: routing rules as data, the national precedence, and an explanation for every choice."""
