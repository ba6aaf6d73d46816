"""Territories (区 → 街道 → 社区), unit grids (万米单元网格), patrol areas (责任网格) and locating points in them."""
