# ruwsgi --http 127.0.0.1:8000 --wsgi-file examples/flask/app.py --callable app --home target/venv
"""A small Flask app: a computed greeting, JSON, and a POST echo."""
from flask import Flask, jsonify, request

app = Flask(__name__)


@app.route("/")
def index():
    return "Hello from Flask, %d\n" % sum(range(10))


@app.route("/json")
def as_json():
    return jsonify(server="ruwsgi", squares=[i * i for i in range(5)])


@app.route("/echo", methods=["POST"])
def echo():
    return jsonify(form=request.form.to_dict(), length=request.content_length)
