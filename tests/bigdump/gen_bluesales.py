#!/usr/bin/python3
"""Writes a BlueSales customers.get dump of about SIZE megabytes to stdout.

    gen_bluesales.py SIZE_MB > customers_2026-11-28.json

Each customer has the fields the API documents (status, manager, source,
dates) plus the contact fields a real account fills, so a record is about
1 KB.  Used once to measure the memory of a streamed import (docs/IMPORTERS.md);
not part of the test suite."""
import json
import sys

size = int(sys.argv[1]) * 1024 * 1024
statuses = [(1, "Новый"), (2, "Переговоры"), (3, "Оплачен"), (4, "Отказ")]
managers = [(7, "Анна Смирнова", "anna"), (8, "Борис Орлов", "boris"), (9, "Вера Ким", "vera")]
sources = [None, (3, "Instagram"), (4, "ВКонтакте"), (5, "Сайт")]
out = sys.stdout
out.write('{"count": 0, "notReturnedCount": 0, "customers": [\n')
written, i = 60, 0
while written < size:
    st = statuses[i % 4]
    m = managers[i % 3]
    src = sources[i % 4]
    rec = {
        "id": 1000000 + i,
        "fullName": "Клиент номер %d" % i,
        "crmStatus": {"id": st[0], "name": st[1], "color": "#5cb85c", "type": 0},
        "manager": {"id": m[0], "fullName": m[1], "login": m[2]},
        "source": None if src is None else {"id": src[0], "name": src[1]},
        "firstContactDate": "%02d.11.2026" % (1 + i % 28),
        "lastContactDate": "28.11.2026",
        "phone": "+7 900 %07d" % i,
        "email": "client%d@example.ru" % i,
        "address": "г. Москва, ул. Тверская, д. %d, кв. %d" % (i % 200, i % 90),
        "comments": "Позвонить после обеда, интересовался доставкой и оплатой частями. " * 4,
        "tags": [{"id": 1, "name": "опт"}, {"id": 2, "name": "повторный"}],
    }
    line = ("," if i else "") + json.dumps(rec, ensure_ascii=False) + "\n"
    out.write(line)
    written += len(line.encode())
    i += 1
out.write("]}\n")
