DROP TABLE builds;
