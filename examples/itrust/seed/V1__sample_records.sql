-- The build database's sample records, applied by the build server role as a migration of
-- its own (history table poseidon_seed_history), on top of the schema at version 2.
INSERT INTO patients (name, born) VALUES ('Ada Lovelace', '1815-12-10'), ('Alan Turing', '1912-06-23'), ('Grace Hopper', '1906-12-09');
INSERT INTO visits (patient_id, at, note) VALUES (1, '2024-01-02 10:00:00', 'check-up'), (3, '2024-02-03 11:30:00', 'follow-up');
