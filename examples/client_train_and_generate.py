"""Train an LSTM on your own text through the app's API, printing the loss as it falls, then generate,
and look inside: where was the model most surprised by what it wrote?

    python app.py &                                              # or use a Space's URL below
    python examples/client_train_and_generate.py my_text.txt --url http://127.0.0.1:7860/ --seconds 20
"""

import argparse

from gradio_client import Client, handle_file

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("corpus", help="a .txt, .md or .csv (with a 'text' column) file")
parser.add_argument("--url", default="http://127.0.0.1:7860/", help="the app, or a Space such as owner/name")
parser.add_argument("--seconds", type=float, default=20, help="training time budget")
args = parser.parse_args()

client = Client(args.url, verbose=False)  # one client is one session: the model it trains is its own

# /train streams an update about twice a second: (status, loss plot, samples).
job = client.submit(handle_file(args.corpus), cell="lstm", seconds=args.seconds, api_name="/train")
printed = 0
for status, plot, samples in job:
    columns = plot["columns"] if plot else []
    rows = [dict(zip(columns, row)) for row in (plot["data"] if plot else [])]
    points = [r for r in rows if r["loss"] is not None]  # blank rows only reserve the series' colours
    for point in points[printed:]:
        print(f"step {point['step']:>6}  {point['series']:<10}  loss {point['loss']:.3f}")
    printed = len(points)
status, plot, samples = job.result()  # raises gradio_client.exceptions.AppError if training failed
print(status)

# The model just trained is "my model"; every /generate parameter has a default.
text = client.predict(model="my model", prompt="The ", length=300, temperature=0.8, seed=1, api_name="/generate")
print(text)

# /look_inside: the model reads a text; each token comes back with its colour (for surprise, 0 = sure
# to 1 = a blind guess), the note with its loss on the whole text.
tokens, _, _, note, _ = client.predict(model="my model", text=text, signal="surprise", api_name="/look_inside")
print(note.split("\n")[0])
hardest = sorted(tokens, key=lambda t: t["class_or_confidence"] or 0, reverse=True)[:5]
print("most surprising:", ", ".join(repr(t["token"]) for t in hardest))
client.close()
