-- A small MIS database (a Peruvian MFI): clients, loans, their installments and
-- the repayments received. build_db.lua turns this script into mis.sqlite3.
CREATE TABLE clients (
  client_no TEXT PRIMARY KEY,
  first_name TEXT NOT NULL,
  last_name TEXT NOT NULL,
  sex TEXT
);
CREATE TABLE loans (
  loan_no TEXT PRIMARY KEY,
  client_no TEXT NOT NULL REFERENCES clients(client_no),
  amount NUMERIC NOT NULL,
  currency TEXT NOT NULL,
  disbursed_on TEXT NOT NULL,
  activity TEXT,
  town TEXT,
  purpose TEXT,
  story TEXT,
  status TEXT NOT NULL
);
CREATE TABLE installments (
  loan_no TEXT NOT NULL REFERENCES loans(loan_no),
  due_on TEXT NOT NULL,
  principal NUMERIC NOT NULL,
  interest NUMERIC NOT NULL
);
CREATE TABLE payments (
  loan_no TEXT NOT NULL REFERENCES loans(loan_no),
  paid_on TEXT NOT NULL,
  amount NUMERIC NOT NULL
);

INSERT INTO clients VALUES
  ('CLI-301', 'María', 'Quispe Huamán', 'F'),
  ('CLI-302', 'Jesús', 'Mamani', 'M'),
  ('CLI-303', 'Rosalía', 'Ibáñez', 'Mujer'),
  ('CLI-250', 'Pedro', 'Ccori', 'M'),
  ('CLI-251', 'Lucía', 'Condori', 'F');

INSERT INTO loans VALUES
  ('PR-1001', 'CLI-301', 1500.00, 'PEN', '2024-03-01', 'Cereals', 'Huánuco', 'Comprar semillas de papa',
   'María cultiva papa nativa en las alturas de Huánuco.', 'approved'),
  ('PR-1002', 'CLI-302', 2000.50, 'PEN', '2024-03-08', 'Taxi', 'Cusco', 'Reparar su mototaxi',
   'Jesús trabaja como mototaxista en Cusco.', 'approved'),
  ('PR-1003', 'CLI-303', 900, 'PEN', '2024-03-15', 'Weaving', 'Cusco', 'Comprar lana de alpaca',
   'Rosalía teje mantas con su cooperativa.', 'pending'),
  ('PR-0900', 'CLI-250', 1200, 'PEN', '2023-11-02', 'Cattle', 'Huánuco', NULL, NULL, 'active'),
  ('PR-0901', 'CLI-251', 800, 'PEN', '2023-11-09', 'Bakery', 'Cusco', NULL, NULL, 'active');

INSERT INTO installments VALUES
  ('PR-1001', '2024-04-01', 500.00, 45.00),
  ('PR-1001', '2024-05-01', 500.00, 30.00),
  ('PR-1001', '2024-06-01', 500.00, 15.00),
  ('PR-1002', '2024-04-08', 1000.25, 60.00),
  ('PR-1002', '2024-05-08', 1000.25, 30.00),
  ('PR-1003', '2024-04-15', 900, 27);

INSERT INTO payments VALUES
  ('PR-0900', '2024-02-05', 150.00),
  ('PR-0900', '2024-02-20', 100.50),
  ('PR-0901', '2024-02-12', 96.40);
