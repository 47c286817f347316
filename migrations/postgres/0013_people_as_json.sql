-- A call's people become a JSON array of kunlun ids (an id may not hold a comma any more, but a
-- list is stored as a list): rows written comma-separated are split once here.
UPDATE expedites SET people = NULLIF(
  (SELECT coalesce(jsonb_agg(p ORDER BY i), '[]'::jsonb)::text
     FROM unnest(string_to_array(people, ',')) WITH ORDINALITY AS u(p, i) WHERE p <> ''),
  '[]') WHERE people IS NOT NULL;
