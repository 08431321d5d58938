"""Getting data in: schemas, decoding, validation, quarantine, the Events API batcher and its log."""
