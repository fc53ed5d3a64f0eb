DROP TABLE app_build_args;
DROP TABLE app_git_sources;
