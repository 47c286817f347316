-- A call's people become a JSON array of kunlun ids (an id may not hold a comma any more, but a
-- list is stored as a list): rows written comma-separated are split once here.
UPDATE expedites SET people = NULLIF((
  WITH RECURSIVE split(rest, item) AS (
    SELECT expedites.people || ',', NULL
    UNION ALL
    SELECT substr(rest, instr(rest, ',') + 1), substr(rest, 1, instr(rest, ',') - 1)
      FROM split WHERE rest <> ''
  )
  SELECT json_group_array(item) FROM split WHERE item IS NOT NULL AND item <> ''
), '[]') WHERE people IS NOT NULL;
