"""The web console `modelplane up` serves at `/`: server-rendered pages (Jinja2) over the same domain
services as the API, with a little vendored JavaScript (uPlot) for charts and live updates."""
