-- What people wrote that a note quotes as written (a title, a receiver's note), so that a
-- reader can mark it as not to be translated; notes from before quote nothing marked.
ALTER TABLE inbox ADD COLUMN typed text[] NOT NULL DEFAULT '{}';
