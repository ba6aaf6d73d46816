"""The 部件 inventory (GB/T 47678.5-2026 管理部件): city assets with their 17-digit identifiers and owners."""
