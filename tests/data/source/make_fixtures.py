#!/usr/bin/python3
# Writes the reader fixtures of tests/data/source/ (run once; the outputs are committed).
# The .xlsx files are built with Python's zipfile so that no ZIP is hand-written;
# they hold what Excel writes: shared and inline strings, numbers, date styles
# (a built-in numFmtId 14 and a custom "dd/mm/yyyy"), and the 1900 or 1904 system.
import os
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


# A French MFI's export: Windows-1252, ';', CRLF, dd/mm/yyyy, decimal commas.
write("fr_win1252.csv", (
    "N° Prêt;Nom;Sexe;Montant;Date décaissement;Groupe\r\n"
    "P-001;Awa Traoré;F;1 250,50;05/03/2024;\r\n"
    "P-002;Adèle Koné;Femme;75 000;12/03/2024;G-7\r\n"
    "P-003;Aïssata Diallo;F;80 000,00;12/03/2024;G-7\r\n"
    "P-004;Élodie Œuvray;F;€ 10;01/04/2024;\r\n"
).encode("cp1252"))
write("bom_utf8.csv", "\ufeffName,Amount\nZoë,10\nJosé,20\n".encode("utf-8"))
write("cr_only.csv", b"a,b\r1,2\r3,4\r")
write("lf_only.csv", b"a,b\n1,2\n3,4")
write("embedded.csv", b'id,story\r\n1,"She sells ""fish""\r\nat the market"\r\n2,plain\r\n')
write("ragged.csv", b"a,b,c\n1,2,3\n4,5\n6,7,8\n9,10,11,12\n13,14,15\n")
write("unterminated.csv", b'a,b\n1,"never closed\n2,3\n')
write("dup_headers.csv", b" Amount ;Amount;;Name\n1;2;3;x\n")
write("nul.csv", b"a,b\n1,\x002\n")
write("utf16.csv", "a,b\n1,2\n".encode("utf-16"))
write("latin9.csv", b"item;price\nbook;\xa4 5\n")
write("tabs.tsv", b"loan\tamount\nL1\t10\n")
write("pipes.csv", b"loan|amount|note\nL1|10|a, b\n")
write("loans.json", '[{"loan": "L1", "amount": 1250.5, "count": 3, "ok": true, "none": null}, '
      '{"loan": "L2", "amount": "80"}]'.encode("utf-8"))
write("loans.jsonl", b'{"loan": "L1", "amount": 10}\n\n{"loan": "L2", "amount": 20}\nnot json\n{"loan": "L3"}\n')
write("schedule.csv", b"loan;date;principal\nP-001;05/04/2024;625,25\nP-001;05/05/2024;625,25\nP-009;01/01/2025;1\n")

CT = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
      '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
      '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
      '<Default Extension="xml" ContentType="application/xml"/>'
      '<Override PartName="/xl/workbook.xml" '
      'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
      '</Types>')
ROOT_RELS = ('<?xml version="1.0" encoding="UTF-8"?>'
             '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
             '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
             'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
STYLES = ('<?xml version="1.0" encoding="UTF-8"?>'
          '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
          '<numFmts count="1"><numFmt numFmtId="164" formatCode="dd/mm/yyyy;@"/></numFmts>'
          '<cellStyleXfs count="1"><xf numFmtId="0"/></cellStyleXfs>'
          '<cellXfs count="4"><xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="164"/>'
          '<xf numFmtId="4"/></cellXfs></styleSheet>')


def sheet_xml(rows):
    out = ['<?xml version="1.0" encoding="UTF-8"?>'
           '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>']
    for r, cells in rows:
        out.append('<row r="%d">' % r)
        out.extend(cells)
        out.append('</row>')
    out.append('</sheetData></worksheet>')
    return "".join(out)


def workbook(path, sheets, shared, date1904=False):
    wb = ['<?xml version="1.0" encoding="UTF-8"?>'
          '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
          'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
          '<workbookPr%s/><sheets>' % (' date1904="1"' if date1904 else '')]
    rels = ['<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">']
    for i, (name, _) in enumerate(sheets, 1):
        wb.append('<sheet name="%s" sheetId="%d" r:id="rId%d"/>' % (name, i, i))
        rels.append('<Relationship Id="rId%d" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                    'relationships/worksheet" Target="worksheets/sheet%d.xml"/>' % (i, i))
    wb.append('</sheets></workbook>')
    rels.append('</Relationships>')
    sst = ['<?xml version="1.0" encoding="UTF-8"?>'
           '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">']
    for s in shared:
        sst.append(s if s.startswith('<si>') else '<si><t>%s</t></si>' % s)
    sst.append('</sst>')
    with zipfile.ZipFile(os.path.join(HERE, path), "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", CT)
        z.writestr("_rels/.rels", ROOT_RELS)
        z.writestr("xl/workbook.xml", "".join(wb))
        z.writestr("xl/_rels/workbook.xml.rels", "".join(rels))
        z.writestr("xl/styles.xml", STYLES)
        z.writestr("xl/sharedStrings.xml", "".join(sst))
        for i, (_, rows) in enumerate(sheets, 1):
            z.writestr("xl/worksheets/sheet%d.xml" % i, sheet_xml(rows))


# shared strings: 0 Loan, 1 Name, 2 Amount, 3 Disbursed, 4 Due, 5 L-1, 6 Adèle Koné, 7 rich text, 8 Note
shared = ["Loan", "Name", "Amount", "Disbursed", "Due", "L-1", "Adèle Koné",
          '<si><r><t>Awa </t></r><r><t>Traoré</t></r><rPh><t>ignored</t></rPh></si>', "Note"]
loans = [
    (1, ['<c r="A1" t="s"><v>0</v></c>', '<c r="B1" t="s"><v>1</v></c>', '<c r="C1" t="s"><v>2</v></c>',
         '<c r="D1" t="s"><v>3</v></c>', '<c r="E1" t="s"><v>4</v></c>', '<c r="F1" t="s"><v>8</v></c>']),
    (2, ['<c r="A2" t="s"><v>5</v></c>', '<c r="B2" t="s"><v>6</v></c>', '<c r="C2" s="3"><v>1250.5</v></c>',
         '<c r="D2" s="1"><v>45356</v></c>', '<c r="E2" s="2"><v>45387.5</v></c>',
         '<c r="F2" t="inlineStr"><is><t>first &amp; only</t></is></c>']),
    (4, ['<c r="A4" t="inlineStr"><is><t>L-2</t></is></c>', '<c r="B4" t="s"><v>7</v></c>',
         '<c r="C4"><v>0.30000000000000004</v></c>', '<c r="D4" s="1"><v>61</v></c>']),
    (5, ['<c r="A5" t="str"><f>"L-"&amp;3</f><v>L-3</v></c>', '<c r="B5" t="b"><v>1</v></c>',
         '<c r="C5"><v>480</v></c>', '<c r="G5"><v>9</v></c>']),
]
second = [(1, ['<c r="A1" t="inlineStr"><is><t>only</t></is></c>']),
          (2, ['<c r="A2"><v>42</v></c>'])]
workbook("loans.xlsx", [("Loans", loans), ("Other", second)], shared)
workbook("dates1904.xlsx", [("Sheet1", [
    (1, ['<c r="A1" t="inlineStr"><is><t>When</t></is></c>']),
    (2, ['<c r="A2" s="2"><v>0</v></c>']),
    (3, ['<c r="A3" s="2"><v>43890</v></c>'])])], [], date1904=True)
