WITH `#assignment` AS (
  SELECT
    `e`.`unit` AS `unit`,
    MIN(`e`.`ts`) AS `exposed_at`,
    MAX(`e`.`ts`) AS `last_exposure`,
    CASE WHEN COUNT(DISTINCT `e`.`arm`) = 1 THEN MIN(`e`.`arm`) END AS `arm`,
    MIN_BY(`e`.`country`, `e`.`ts`) AS `seg0`,
    MIN_BY(`e`.`platform`, `e`.`ts`) AS `seg1`
  FROM `exposures` AS `e`
  WHERE
    NOT `e`.`unit` IS NULL
    AND `e`.`ts` < @as_of
    AND `e`.`ts` >= @start
    AND `e`.`experiment` = @experiment
  GROUP BY
    `e`.`unit`
), `#p0` AS (
  SELECT
    `a`.`unit`,
    MAX(
      CASE
        WHEN (
          `m`.`ts` >= `a`.`exposed_at` AND TRUE
        ) AND CAST(`m`.`v_m0` AS FLOAT64) > 0
        THEN 1
        ELSE 0
      END
    ) AS `m0_y`,
    MAX(
      CASE
        WHEN (
          `m`.`ts` < `a`.`exposed_at`
          AND `m`.`ts` >= `a`.`exposed_at` - TO_DAYS(CAST(@lookback_0 AS INT64))
          AND TRUE
        )
        AND CAST(`m`.`v_m0` AS FLOAT64) > 0
        THEN 1
        ELSE 0
      END
    ) AS `m0_x`,
    SUM(
      CASE
        WHEN `m`.`ts` >= `a`.`exposed_at` AND TRUE
        THEN CAST(`m`.`v_m1` AS FLOAT64)
      END
    ) AS `m1_y`,
    SUM(
      CASE
        WHEN `m`.`ts` < `a`.`exposed_at`
        AND `m`.`ts` >= `a`.`exposed_at` - TO_DAYS(CAST(@lookback_1 AS INT64))
        AND TRUE
        THEN CAST(`m`.`v_m1` AS FLOAT64)
      END
    ) AS `m1_x`,
    COUNT(CASE WHEN `m`.`ts` >= `a`.`exposed_at` AND NOT `m`.`f_m2` IS NULL THEN 1 END) AS `m2_y`,
    COUNT(
      CASE
        WHEN `m`.`ts` < `a`.`exposed_at`
        AND `m`.`ts` >= `a`.`exposed_at` - TO_DAYS(CAST(@lookback_2 AS INT64))
        AND NOT `m`.`f_m2` IS NULL
        THEN 1
      END
    ) AS `m2_x`,
    SUM(
      CASE
        WHEN `m`.`ts` >= `a`.`exposed_at` AND TRUE
        THEN CAST(`m`.`v_m3` AS FLOAT64)
      END
    ) AS `m3_y`,
    SUM(
      CASE
        WHEN `m`.`ts` >= `a`.`exposed_at` AND TRUE
        THEN CAST(`m`.`v_m4` AS FLOAT64)
      END
    ) AS `m4_y`,
    COUNT(CASE WHEN `m`.`ts` >= `a`.`exposed_at` AND NOT `m`.`f_d4` IS NULL THEN 1 END) AS `d4_y`
  FROM `#assignment` AS `a`
  JOIN (
    SELECT
      unit,
      ts,
      CASE WHEN event = 'purchase' THEN 1 END AS `v_m0`,
      CASE WHEN event = 'purchase' THEN value END AS `v_m1`,
      CASE WHEN event = 'session' THEN value END AS `v_m2`,
      CASE WHEN event = 'session' THEN 1 END AS `f_m2`,
      CASE WHEN event = 'page_view' THEN value END AS `v_m3`,
      CASE WHEN event = 'purchase' THEN value END AS `v_m4`,
      CASE WHEN event = 'session' THEN value END AS `v_d4`,
      CASE WHEN event = 'session' THEN 1 END AS `f_d4`
    FROM events
    WHERE
      (
        event = 'purchase'
      )
      OR (
        event = 'purchase'
      )
      OR (
        event = 'session'
      )
      OR (
        event = 'page_view'
      )
      OR (
        event = 'purchase'
      )
      OR (
        event = 'session'
      )
  ) AS `m`
    ON `m`.`unit` = `a`.`unit`
  WHERE
    `m`.`ts` >= LEAST(
      `a`.`exposed_at` - TO_DAYS(CAST(@lookback_0 AS INT64)),
      `a`.`exposed_at` - TO_DAYS(CAST(@lookback_1 AS INT64)),
      `a`.`exposed_at` - TO_DAYS(CAST(@lookback_2 AS INT64)),
      `a`.`exposed_at`,
      `a`.`exposed_at`,
      `a`.`exposed_at`
    )
    AND `m`.`ts` < @as_of
  GROUP BY
    `a`.`unit`
), `#units` AS (
  SELECT
    `a`.`unit`,
    `a`.`arm`,
    `a`.`seg0`,
    `a`.`seg1`,
    `a`.`last_exposure`,
    COALESCE(`#p0`.`m0_y`, 0) AS `m0_y`,
    COALESCE(`#p0`.`m0_x`, 0) AS `m0_x`,
    COALESCE(`#p0`.`m1_y`, 0) AS `m1_y`,
    COALESCE(`#p0`.`m1_x`, 0) AS `m1_x`,
    COALESCE(`#p0`.`m2_y`, 0) AS `m2_y`,
    COALESCE(`#p0`.`m2_x`, 0) AS `m2_x`,
    COALESCE(`#p0`.`m3_y`, 0) AS `m3_y`,
    COALESCE(`#p0`.`m4_y`, 0) AS `m4_y`,
    COALESCE(`#p0`.`d4_y`, 0) AS `m4_x`
  FROM `#assignment` AS `a`
  LEFT JOIN `#p0`
    ON `#p0`.`unit` = `a`.`unit`
), `#cells` AS (
  SELECT
    `u`.`arm`,
    `u`.`seg0`,
    `u`.`seg1`,
    COUNT(*) AS `n`,
    MAX(`u`.`last_exposure`) AS `last_exposure`,
    COUNTIF(`u`.`m0_y` > 0) AS `s0`,
    COUNTIF(`u`.`m0_x` > 0) AS `s1`,
    SUM(
      CASE WHEN `u`.`m0_x` > 0 THEN 1 ELSE 0 END * CASE WHEN `u`.`m0_y` > 0 THEN 1 ELSE 0 END
    ) AS `s2`,
    SUM((
      `u`.`m1_y` - @shift_m1_y
    )) AS `s3`,
    SUM((
      `u`.`m1_y` - @shift_m1_y
    ) * (
      `u`.`m1_y` - @shift_m1_y
    )) AS `s4`,
    SUM((
      `u`.`m1_x` - @shift_m1_x
    )) AS `s5`,
    SUM((
      `u`.`m1_x` - @shift_m1_x
    ) * (
      `u`.`m1_x` - @shift_m1_x
    )) AS `s6`,
    SUM((
      `u`.`m1_x` - @shift_m1_x
    ) * (
      `u`.`m1_y` - @shift_m1_y
    )) AS `s7`,
    SUM(`u`.`m2_y`) AS `s8`,
    SUM(`u`.`m2_y` * `u`.`m2_y`) AS `s9`,
    SUM(`u`.`m2_x`) AS `s10`,
    SUM(`u`.`m2_x` * `u`.`m2_x`) AS `s11`,
    SUM(`u`.`m2_x` * `u`.`m2_y`) AS `s12`,
    SUM((
      `u`.`m3_y` - @shift_m3_y
    )) AS `s13`,
    SUM((
      `u`.`m3_y` - @shift_m3_y
    ) * (
      `u`.`m3_y` - @shift_m3_y
    )) AS `s14`,
    SUM(`u`.`m4_y`) AS `s15`,
    SUM(`u`.`m4_y` * `u`.`m4_y`) AS `s16`,
    SUM(`u`.`m4_x`) AS `s17`,
    SUM(`u`.`m4_x` * `u`.`m4_x`) AS `s18`,
    SUM(`u`.`m4_x` * `u`.`m4_y`) AS `s19`,
    MAX(ABS(`u`.`m1_y`)) AS `abs0`,
    MAX(ABS(`u`.`m1_x`)) AS `abs1`,
    MAX(ABS(`u`.`m2_y`)) AS `abs2`,
    MAX(ABS(`u`.`m2_x`)) AS `abs3`,
    MAX(ABS(`u`.`m3_y`)) AS `abs4`,
    MAX(ABS(`u`.`m4_y`)) AS `abs5`,
    MAX(ABS(`u`.`m4_x`)) AS `abs6`
  FROM `#units` AS `u`
  GROUP BY
    `u`.`arm`,
    `u`.`seg0`,
    `u`.`seg1`
)
SELECT
  `arm`,
  `seg0`,
  `seg1`,
  GROUPING(`seg0`) AS `g_seg0`,
  GROUPING(`seg1`) AS `g_seg1`,
  SUM(`n`) AS `n`,
  MAX(`last_exposure`) AS `last_exposure`,
  SUM(`s0`) AS `m0_sum`,
  SUM(`s0`) AS `m0_sum_sq`,
  SUM(`s1`) AS `m0_x_sum`,
  SUM(`s1`) AS `m0_x_sum_sq`,
  SUM(`s2`) AS `m0_xy_sum`,
  SUM(`s3`) AS `m1_sum`,
  SUM(`s4`) AS `m1_sum_sq`,
  SUM(`s5`) AS `m1_x_sum`,
  SUM(`s6`) AS `m1_x_sum_sq`,
  SUM(`s7`) AS `m1_xy_sum`,
  SUM(`s8`) AS `m2_sum`,
  SUM(`s9`) AS `m2_sum_sq`,
  SUM(`s10`) AS `m2_x_sum`,
  SUM(`s11`) AS `m2_x_sum_sq`,
  SUM(`s12`) AS `m2_xy_sum`,
  SUM(`s13`) AS `m3_sum`,
  SUM(`s14`) AS `m3_sum_sq`,
  SUM(`s15`) AS `m4_sum`,
  SUM(`s16`) AS `m4_sum_sq`,
  SUM(`s17`) AS `m4_x_sum`,
  SUM(`s18`) AS `m4_x_sum_sq`,
  SUM(`s19`) AS `m4_xy_sum`,
  MAX(`abs0`) AS `max_abs_m1_y`,
  MAX(`abs1`) AS `max_abs_m1_x`,
  MAX(`abs2`) AS `max_abs_m2_y`,
  MAX(`abs3`) AS `max_abs_m2_x`,
  MAX(`abs4`) AS `max_abs_m3_y`,
  MAX(`abs5`) AS `max_abs_m4_y`,
  MAX(`abs6`) AS `max_abs_m4_x`
FROM `#cells`
GROUP BY
  GROUPING SETS (
    (
      `arm`
    ),
    (`arm`, `seg0`),
    (`arm`, `seg1`)
  )
