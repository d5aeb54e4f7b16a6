SELECT
  COALESCE(
    (
      SELECT
        CAST(`q`.`value` AS FLOAT64)
      FROM (
        SELECT
          unit,
          ts,
          value
        FROM events
        WHERE
          event = 'page_view'
      ) AS `q`
      WHERE
        NOT `q`.`value` IS NULL
      LIMIT 1
    ),
    0
  ) AS `shift_m0_y`,
  COALESCE(
    (
      SELECT
        CAST(`q`.`value` AS FLOAT64)
      FROM (
        SELECT
          unit,
          ts,
          value
        FROM crashes
      ) AS `q`
      WHERE
        NOT `q`.`value` IS NULL
      LIMIT 1
    ),
    0
  ) AS `shift_m1_y`
