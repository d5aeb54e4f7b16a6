WITH "#assignment" AS (
  SELECT
    "e"."unit" AS "unit",
    MIN("e"."ts") AS "exposed_at",
    MAX("e"."ts") AS "last_exposure",
    CASE WHEN COUNT(DISTINCT "e"."arm") = 1 THEN MIN("e"."arm") END AS "arm",
    MIN_BY("e"."platform", "e"."ts") AS "seg0"
  FROM "layer_exposures" AS "e"
  WHERE
    NOT "e"."unit" IS NULL
    AND "e"."ts" < :as_of
    AND "e"."ts" >= :start
    AND "e"."experiment" = :experiment
  GROUP BY
    "e"."unit"
), "#p0" AS (
  SELECT
    "a"."unit",
    SUM(
      CASE
        WHEN "m"."ts" >= "a"."exposed_at" AND TRUE
        THEN CAST("m"."value" AS DOUBLE)
      END
    ) AS "m0_y"
  FROM "#assignment" AS "a"
  JOIN (
    SELECT
      unit,
      ts,
      value
    FROM events
    WHERE
      event = 'page_view'
  ) AS "m"
    ON "m"."unit" = "a"."unit"
  WHERE
    "m"."ts" >= "a"."exposed_at" AND "m"."ts" < :as_of
  GROUP BY
    "a"."unit"
), "#p1" AS (
  SELECT
    "a"."unit",
    SUM(
      CASE
        WHEN "m"."ts" >= "a"."exposed_at" AND TRUE
        THEN CAST("m"."value" AS DOUBLE)
      END
    ) AS "m1_y"
  FROM "#assignment" AS "a"
  JOIN (
    SELECT
      unit,
      ts,
      value
    FROM crashes
  ) AS "m"
    ON "m"."unit" = "a"."unit"
  WHERE
    "m"."ts" >= "a"."exposed_at" AND "m"."ts" < :as_of
  GROUP BY
    "a"."unit"
), "#units" AS (
  SELECT
    "a"."unit",
    "a"."arm",
    "a"."seg0",
    "a"."last_exposure",
    COALESCE("#p0"."m0_y", 0) AS "m0_y",
    COALESCE("#p1"."m1_y", 0) AS "m1_y"
  FROM "#assignment" AS "a"
  LEFT JOIN "#p0"
    ON "#p0"."unit" = "a"."unit"
  LEFT JOIN "#p1"
    ON "#p1"."unit" = "a"."unit"
), "#cells" AS (
  SELECT
    "u"."arm",
    "u"."seg0",
    COUNT(*) AS "n",
    MAX("u"."last_exposure") AS "last_exposure",
    SUM((
      "u"."m0_y" - :shift_m0_y
    )) AS "s0",
    SUM((
      "u"."m0_y" - :shift_m0_y
    ) * (
      "u"."m0_y" - :shift_m0_y
    )) AS "s1",
    SUM((
      "u"."m1_y" - :shift_m1_y
    )) AS "s2",
    SUM((
      "u"."m1_y" - :shift_m1_y
    ) * (
      "u"."m1_y" - :shift_m1_y
    )) AS "s3",
    MAX(ABS("u"."m0_y")) AS "abs0",
    MAX(ABS("u"."m1_y")) AS "abs1"
  FROM "#units" AS "u"
  GROUP BY
    "u"."arm",
    "u"."seg0"
)
SELECT
  "arm",
  "seg0",
  GROUPING("seg0") AS "g_seg0",
  SUM("n") AS "n",
  MAX("last_exposure") AS "last_exposure",
  SUM("s0") AS "m0_sum",
  SUM("s1") AS "m0_sum_sq",
  SUM("s2") AS "m1_sum",
  SUM("s3") AS "m1_sum_sq",
  MAX("abs0") AS "max_abs_m0_y",
  MAX("abs1") AS "max_abs_m1_y"
FROM "#cells"
GROUP BY
  GROUPING SETS (
    (
      "arm"
    ),
    ("arm", "seg0")
  )
