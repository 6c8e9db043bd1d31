"""What the benchmark scripts share: publishing a results table to
bench/results/NAME.md and into README.md between its markers
(<!-- bench-NAME: made by bench/SCRIPT --> ... <!-- /bench-NAME -->)."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def publish(name, script, title, body):
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", f"{name}.md"), "w") as f:
        f.write(f"# {title}\n\n" + body)
    readme = os.path.join(ROOT, "README.md")
    text = open(readme).read()
    start, end = f"<!-- bench-{name}: made by bench/{script} -->", f"<!-- /bench-{name} -->"
    if start in text and end in text:
        text = text[:text.index(start) + len(start)] + "\n" + body + text[text.index(end):]
        open(readme, "w").write(text)
    print(body)
