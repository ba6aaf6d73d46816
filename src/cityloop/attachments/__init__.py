"""Photos and other evidence: checked by content, stripped of EXIF, thumbnailed, stored on disk or S3."""
