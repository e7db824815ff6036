-- Every note in Norwegian bokmål as well as English (`title`, `body`).
ALTER TABLE inbox ADD COLUMN title_nb text, ADD COLUMN body_nb text;
UPDATE inbox SET title_nb = title, body_nb = body;
ALTER TABLE inbox ALTER COLUMN title_nb SET NOT NULL, ALTER COLUMN body_nb SET NOT NULL;
-- Keyset pages: unread first, newest first.
DROP INDEX inbox_company;
CREATE INDEX inbox_company_page ON inbox (company_id, (read_at IS NULL) DESC, created_at DESC, id DESC);
