WITH "#assignment" AS (
  SELECT
    "e"."unit" AS "unit",
    MIN("e"."ts") AS "exposed_at",
    MAX("e"."ts") AS "last_exposure",
    CASE WHEN COUNT(DISTINCT "e"."arm") = 1 THEN MIN("e"."arm") END AS "arm"
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
    MAX(
      CASE
        WHEN (
          "m"."ts" >= "a"."exposed_at" AND TRUE
        ) AND CAST("m"."value" AS DOUBLE) > 0
        THEN 1
        ELSE 0
      END
    ) AS "m0_y"
  FROM "#assignment" AS "a"
  JOIN (
    SELECT
      unit,
      ts,
      1 AS value
    FROM events
    WHERE
      event = 'purchase'
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
    "a"."last_exposure",
    COALESCE("#p0"."m0_y", 0) AS "m0_y"
  FROM "#assignment" AS "a"
  LEFT JOIN "#p0"
    ON "#p0"."unit" = "a"."unit"
), "#cells" AS (
  SELECT
    "u"."arm",
    COUNT(*) AS "n",
    MAX("u"."last_exposure") AS "last_exposure",
    COUNT_IF("u"."m0_y" > 0) AS "s0"
  FROM "#units" AS "u"
  GROUP BY
    "u"."arm"
)
SELECT
  "arm",
  SUM("n") AS "n",
  MAX("last_exposure") AS "last_exposure",
  SUM("s0") AS "m0_sum",
  SUM("s0") AS "m0_sum_sq"
FROM "#cells"
GROUP BY
  "arm"
