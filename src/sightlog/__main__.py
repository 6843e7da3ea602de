from sightlog.cli.main import app

app(prog_name="sightlog")
