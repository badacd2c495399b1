#!/usr/bin/env python3
"""make_export.py OUT.csv: writes the Russian status-history export that
tests/columns/run.sh imports, as a CRM's UI gives it: cp1251, ';'-separated,
CRLF, Russian headers, DD.MM.YYYY HH:MM times, "125 000,50" amounts (space
or no-break-space thousands), no event id, one row repeated.  Deterministic:
the committed fixture is this script's output (regenerate and diff)."""
import random
import sys

STAGES = ["Новая заявка", "Квалификация", "Счёт выставлен", "Успешно реализовано"]
LOST = "Закрыто и не реализовано"
MANAGERS = ["Иванов Пётр", "Петрова Анна", "Сидоров Олег"]
SOURCES = ["Яндекс.Директ", "Авито", "Сарафан; рекомендации"]

def money(kopecks, nbsp):
    rub, kop = divmod(kopecks, 100)
    digits = f"{rub:,}".replace(",", "\u00a0" if nbsp else " ")
    return f"{digits},{kop:02d}"

def main(out):
    rnd = random.Random(20261201)
    rows = []
    for n in range(1, 41):
        deal = f"{4000 + n}"
        manager = rnd.choice(MANAGERS)
        source = rnd.choice(SOURCES)
        amount = money(rnd.randrange(500_000, 50_000_000, 50), nbsp=n % 3 == 0)
        day = 1 + rnd.randrange(20)
        minute = rnd.randrange(8 * 60, 18 * 60)
        depth = rnd.choice([1, 1, 2, 2, 3, 4, 4])
        old = ""
        for i in range(depth):
            t = (day + 2 * i, minute + 7 * i)
            rows.append([deal, f"Заказ {deal}", t, old, STAGES[i], manager, source, amount])
            old = STAGES[i]
        if depth < 4 and rnd.random() < 0.4:
            t = (day + 2 * depth, minute + 7 * depth)
            rows.append([deal, f"Заказ {deal}", t, old, LOST, manager, source, amount])
    rows.append(list(rows[5]))  # exported twice: one event
    rnd.shuffle(rows)
    header = ["Сделка", "Название", "Дата изменения", "Старый статус", "Новый статус",
              "Ответственный", "Источник", "Бюджет, руб."]
    lines = [";".join(header)]
    for r in rows:
        (day, minute) = r[2]
        r = list(r)
        r[2] = f"{day:02d}.12.2026 {minute // 60:02d}:{minute % 60:02d}"
        lines.append(";".join(f'"{v}"' if ";" in v else v for v in r))
    with open(out, "wb") as f:
        f.write(("\r\n".join(lines) + "\r\n").encode("cp1251"))

if __name__ == "__main__":
    main(sys.argv[1])
