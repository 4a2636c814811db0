-- The same questions in DuckDB (embedded: captionflow's queryLake) and in Trino (distributed).

-- Items and captions per split of one dataset version.
SELECT split, count(*) AS images, sum(caption_count) AS captions
FROM lake.gold.dataset_items
WHERE dataset_id = 'ds-…'
GROUP BY split ORDER BY split;

-- Which sources feed the lake, and how much of it passes curation (catalog in MongoDB).
SELECT source, status, count(*) AS images
FROM mongodb.captionflow.images
GROUP BY source, status ORDER BY source, status;

-- Machine-made captions still waiting for review.
SELECT c.imageId, c.text, c.modelVersion
FROM mongodb.captionflow.captions c
WHERE c.origin = 'machine';

-- Join the lake and the catalog: gold items of a version with their quality score.
SELECT d.split, avg(i.quality) AS mean_blur_variance
FROM lake.gold.dataset_items d
JOIN mongodb.captionflow.images i ON i._id = d.image_id
WHERE d.dataset_id = 'ds-…'
GROUP BY d.split;
