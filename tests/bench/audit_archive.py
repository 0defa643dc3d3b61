"""`qunguan audit` over generated archives of 100,000 and 1,000,000 messages: messages/s,
peak RSS (the main process and the largest worker), and the time from the end of the stream
to the written report. Writes the "Archive audit" section of BENCHMARKS.md.

The archives are generated from the shapes of the importer fixtures
(tests/importers/fixtures): WeCom archive lines (text, red envelopes with amounts, chat
records, revokes, images) and MemoTrace CSV rows (text, red envelopes without amounts,
transfers), in 400 groups of 20 to 500 members each over 90 days. Ordinary texts are made of
random chat fragments (mostly distinct, so the detectors' text cache does not flatter the
figures); 3% of the messages are real rumour posts (Weibo21 fake posts and CHECKED claims,
read in place from ../shared/data/rumors/, never copied) and the bank is the CHECKED claims
plus the starter bank. Without the data, the rumour messages are the starter bank's claims
and the section says so. Each size runs in a fresh process.

    python -m tests.bench.audit_archive                 # 100k and 1M
    BENCH_SIZES=20000 python -m tests.bench.audit_archive --no-write
"""

from __future__ import annotations

import csv
import json
import os
import platform
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("QUNGUAN_RESEARCH_DATA", ROOT.parent / "shared" / "data"))
SIZES = tuple(int(x) for x in os.environ.get("BENCH_SIZES", "100000,1000000").split(","))
START = "<!-- audit-archive:start -->"
END = "<!-- audit-archive:end -->"
T0 = 1_717_171_200_000  # 2024-05-31T16:00:00Z, in ms
FRAGMENTS = (
    "明天上午九点开会", "请大家按时参加", "收到", "好的，谢谢", "材料已经发到邮箱了", "今晚停水",
    "请提前储水", "快递放在门卫室", "周五前提交报表", "有没有人知道", "社区通知",
    "会议改到下午三点",
    "孩子放学谁去接", "物业费可以线上交了", "电梯在维修", "停车位的事再商量一下", "大家辛苦了",
    "这个问题我来处理", "下周一正常上班", "图片已经上传", "请核对名单", "我在路上了", "晚点回复",
    "哪位同事有空帮个忙", "天气预报说明天下雨", "记得带伞", "培训资料在群文件里", "投票截止到周三",
    "选举大会在村委会召开", "请党员同志准时参加", "Meeting moved to Friday", "Thanks all",
    "Please check the attachment", "On my way", "See you tomorrow", "中午一起吃饭吗",
    "通知已经转发到各小组", "请各位核实一下", "数据我晚上整理", "明天检查卫生",
)


def rumour_texts() -> tuple[list[str], list[dict[str, str]], bool]:
    """(rumour messages, bank entries, whether the research data was there)."""
    starter = [json.loads(x) for x in (ROOT / "src/qunguan/rumors/data/starter_bank.jsonl")
               .read_text(encoding="utf-8").splitlines() if x.strip()]
    bank = [{"id": f"starter-{i}", "claim": r["claim"], "verdict": r["verdict"]}
            for i, r in enumerate(starter, 1)]
    checked = DATA / "rumors" / "checked_pairs_dev.jsonl"
    weibo = DATA / "rumors" / "weibo21_test.jsonl"
    if not (checked.exists() and weibo.exists()):
        return [r["claim"] for r in starter], bank, False
    from qunguan.rumors.evaluation import load_checked, load_weibo21

    claims, posts = load_checked(DATA)
    bank += [{"id": f"checked-{e.id}", "claim": e.claim, "verdict": "false"} for e in claims]
    texts = [r["text"] for r in load_weibo21(DATA, ["test", "val"], label=1)]
    texts += [p.text for p in posts] + [e.claim for e in claims]
    return texts, bank, True


def _mobile(rng: random.Random) -> str:
    return "13" + "".join(rng.choice("0123456789") for _ in range(9))


def _text(rng: random.Random, i: int) -> str:
    text = "，".join(rng.sample(FRAGMENTS, rng.randint(1, 3)))
    if rng.random() < 0.3:
        text += f" {rng.randint(1, 9999)}"
    if i % 500 == 7:
        text += f" 联系电话{_mobile(rng)}"
    return text


def generate(folder: Path, n: int, rumours: list[str]) -> list[Path]:
    """n messages: 90% WeCom archive lines, 10% MemoTrace CSV rows."""
    rng = random.Random(20261125)
    wecom = folder / "archive.jsonl"
    memo = folder / "memotrace.csv"
    n_csv = n // 10
    with wecom.open("w", encoding="utf-8") as f:
        for i in range(n - n_csv):
            ms = T0 + i * (90 * 86_400_000 // n)
            g = rng.randrange(300)
            group = f"wr{g:05d}"
            # Each group has its own members (20 to 500), as real groups do.
            sender = f"u{g}_{rng.randrange(20 + g * 480 // 300)}"
            row: dict[str, object] = {"msgid": f"{i}_{ms}_external", "action": "send",
                                      "from": sender, "tolist": [],
                                      "roomid": group, "msgtime": ms}
            r = rng.random()
            if r < 0.03:
                row.update(msgtype="text", text={"content": rng.choice(rumours)})
            elif r < 0.035:
                parts = rng.randint(5, 60)
                row.update(msgtype="redpacket", redpacket={
                    "type": 2, "wish": "恭喜发财", "totalcnt": parts,
                    "totalamount": parts * rng.randint(100, 20000)})
            elif r < 0.04:
                row.update(msgtype="chatrecord", chatrecord={"title": "群聊的聊天记录", "item": [
                    {"type": "ChatRecordText", "msgtime": ms // 1000 - 60,
                     "content": json.dumps({"content": _text(rng, i)}, ensure_ascii=False)}]})
            elif r < 0.06:
                row.update(msgtype="image", image={"md5sum": "0" * 32, "filesize": 1000,
                                                   "sdkfileid": "x"})
            elif r < 0.065:
                row.update(msgtype="revoke", revoke={"pre_msgid": f"{i - 1}_x"})
            else:
                row.update(msgtype="text", text={"content": _text(rng, i)})
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    with memo.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["localId", "TalkerId", "Type", "SubType", "IsSender", "CreateTime",
                    "Status", "StrContent", "StrTime", "Remark", "NickName", "Sender"])
        for i in range(n_csv):
            ts = T0 // 1000 + i * (90 * 86_400 // max(n_csv, 1))
            r = rng.random()
            kind, sub, content = 1, 0, _text(rng, i)
            if r < 0.03:
                content = rng.choice(rumours)
            elif r < 0.04:
                kind, sub, content = 49, 2001, "<msg><appmsg><title>恭喜发财</title></appmsg></msg>"
            elif r < 0.045:
                kind, sub = 49, 2000
                content = f"<msg><appmsg><title>微信转账</title><wcpayinfo><feedesc>" \
                          f"￥{rng.randint(1, 500)}.00</feedesc></wcpayinfo></appmsg></msg>"
            g = rng.randrange(100)
            w.writerow([i, f"{g}@chatroom", kind, sub, 0, ts, 2, content, "", "", "",
                        f"wxid_{g}_{rng.randrange(20 + g * 3)}"])
    return [wecom, memo]


def run_one(n: int) -> dict[str, float | int | str | bool]:
    """In this (fresh) process: generate, audit with one worker per core, measure."""
    from qunguan.importers.audit import AuditOptions, run_audit

    rumours, bank_rows, have_data = rumour_texts()
    with tempfile.TemporaryDirectory(prefix="qunguan-bench-audit-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        files = generate(folder, n, rumours)
        generated = time.perf_counter() - started
        size = sum(p.stat().st_size for p in files)
        bank = folder / "bank.jsonl"
        bank.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in bank_rows),
                        encoding="utf-8")
        elections = folder / "elections.csv"
        elections.write_text("group,start,end\nwr00001,2024-07-01,2024-07-05\n",
                             encoding="utf-8")
        cpu0 = os.times()
        summary = run_audit(AuditOptions(files=files, out=folder / "out", bank=bank,
                                         elections=elections))
        cpu1 = os.times()
        self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        t = summary.tally
        return {"messages": t.messages, "events": t.events, "bytes": size,
                "generate_s": round(generated, 1), "seconds": round(summary.seconds, 1),
                "read_s": round(summary.read_seconds, 1),
                "report_s": round(summary.seconds - summary.read_seconds, 1),
                "rate": round(t.events / summary.seconds),
                "cpu_s": round((cpu1.user + cpu1.system + cpu1.children_user
                                + cpu1.children_system) - (cpu0.user + cpu0.system
                                                           + cpu0.children_user
                                                           + cpu0.children_system), 1),
                "rss_main_mb": round(self_rss), "rss_worker_mb": round(child_rss),
                "findings": sum(t.findings.values()), "clusters": len(summary.clusters),
                "rumour_copies": len(t.rumour_copies), "errors": t.error_count,
                "workers": os.cpu_count() or 1, "have_data": have_data}


def section(rows: list[dict[str, float | int | str | bool]]) -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    have = all(r["have_data"] for r in rows)
    data = ("3% of the messages are real rumour posts from `../shared/data/rumors/` (Weibo21 "
            "fake posts and CHECKED claims, read in place); the bank is the CHECKED claims plus "
            "the starter bank" if have else
            "**the research data was absent**: the rumour messages are the starter bank's "
            "claims, so clustering saw few distinct texts")
    lines = [
        START, "## Archive audit", "",
        "`qunguan audit` (the default policy pack, debunk matching, clustering, personal data, "
        "red envelopes, report) over generated archives: 90% WeCom archive lines and 10% "
        "MemoTrace CSV rows in 400 groups of 20 to 500 members over 90 days (text, red "
        f"envelopes, transfers, chat records, images, revokes); {data}. One worker process "
        f"per core ({rows[0]['workers']}); each size in a fresh process. \"events/s\" is over the "
        "whole run (reading, screening, clustering, report); \"report s\" is the time from the "
        "end of the stream to the written report. RSS: the main process's peak and the largest "
        "worker's.", "",
        "- Command: `make bench` (`python -m tests.bench.audit_archive`)",
        f"- Machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}",
        f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M')} UTC",
        f"- Load average when it finished (1, 5, 15 min; the machine is shared): {load}", "",
        "| messages | archive MB | total s | read+screen s | report s | events/s | CPU s "
        "| peak RSS main MB | peak RSS worker MB | findings | rumour copies | clusters |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {int(r['events']):,} | {int(r['bytes']) / 1e6:,.0f} | {r['seconds']} | "
                     f"{r['read_s']} | {r['report_s']} | {int(r['rate']):,} | {r['cpu_s']} | "
                     f"{r['rss_main_mb']} | {r['rss_worker_mb']} | {int(r['findings']):,} | "
                     f"{int(r['rumour_copies']):,} | {int(r['clusters']):,} |")
    lines += ["", "Target (issue 8): 1,000,000 messages in at most 10 minutes on this 2-core "
              "machine, with memory flat as the archive grows (100k against 1M).", END]
    return "\n".join(lines)


def write(text: str) -> None:
    path = ROOT / "BENCHMARKS.md"
    current = path.read_text(encoding="utf-8")
    if START in current:
        current = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: text, current,
                         flags=re.S)
    else:
        current = current.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(current, encoding="utf-8")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--one":
        print(json.dumps(run_one(int(sys.argv[2]))))
        return
    rows = []
    for n in SIZES:
        out = subprocess.run([sys.executable, "-m", "tests.bench.audit_archive", "--one",
                              str(n)], cwd=ROOT, check=True, capture_output=True, text=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(row, flush=True)
        rows.append(row)
    text = section(rows)
    print(text)
    if "--no-write" not in sys.argv:
        write(text)


if __name__ == "__main__":
    main()
