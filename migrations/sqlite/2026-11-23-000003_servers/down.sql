DROP TABLE server_checks;
DROP TABLE servers;
