"""`striate games train | play | match | evolve | report`: self-play agents, evolved checkers players, matches."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from striate.errors import ConfigError

games_app = typer.Typer(no_args_is_help=True, help="Board games: AlphaZero-style self-play, Blondie24-style "
                                                   "co-evolution, and matches between any two players.")

PLAYER_HELP = ("a run folder (striate games train, or an evolved checkers player from striate games evolve), random, "
               "alphabeta:DEPTH, mcts:SIMULATIONS (random rollouts), gnugo:LEVEL (Go), human")


def parse_game_options(game: str, size: int | None, komi: float | None) -> dict:
    options = {}
    if size is not None or komi is not None:
        if game != "go":
            raise ConfigError(f"Invalid `--size`/`--komi` for {game}: expected them for go only; drop them.")
        if size is not None:
            options["size"] = size
        if komi is not None:
            options["komi"] = komi
    return options


def load_folder_player(spec: str, *, simulations: int | None = None, depth: int | None = None, seed: int = 0):
    """The player saved in a run folder, with its game: a self-play agent or an evolved checkers player."""
    folder = Path(spec)
    if (folder / "player.json").is_file():
        from striate.games.training import load_player

        return load_player(folder, simulations)
    if (folder / "best.safetensors").is_file():
        from striate.games import create
        from striate.games.evolve import EvolvedPlayer, load_network

        network = load_network(folder / "best.safetensors")
        search = _evolved_search(folder)
        return EvolvedPlayer(network, depth or search.get("depth", 2), name=folder.name, seed=seed,
                             extend=search.get("extend", 0)), create("checkers")
    raise ConfigError(f"Invalid player {spec!r}: expected a run folder of `striate games train` (player.json) or "
                      f"`striate games evolve` (best.safetensors), found a folder with neither.")


def _evolved_search(folder: Path) -> dict[str, int]:
    """The depth and extension the folder's network was evolved with (best.json), as defaults for its player."""
    import json

    try:
        record = json.loads((folder / "best.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {key: record[key] for key in ("depth", "extend")
            if isinstance(record, dict) and isinstance(record.get(key), int) and record[key] >= (key == "depth")}


def make_player(spec: str, *, seed: int = 0):
    """A player that is not a run folder, from its spec (see `PLAYER_HELP`); it plays whatever game it is given."""
    from striate.games import players as p

    kind, colon, argument = spec.strip().partition(":")

    def number(what: str, default: int) -> int:
        if not colon:
            return default
        value = int(argument) if argument.isdigit() else 0
        if value < 1:
            raise ConfigError(f"Invalid player {spec!r}: expected {kind}:{what} with a positive whole number, "
                              f"received {argument!r}.")
        return value

    if kind == "random" and not colon:
        return p.RandomPlayer(seed=seed)
    if kind == "human" and not colon:
        return p.HumanPlayer(input=sys.stdin, output=sys.stdout)
    if kind == "alphabeta":
        return p.AlphaBetaPlayer(number("DEPTH", 4), seed=seed)
    if kind == "mcts":
        return p.MCTSPlayer(number("SIMULATIONS", 200), seed=seed)
    if kind == "gnugo":
        from striate.games.gtp import GTPPlayer

        return GTPPlayer(number("LEVEL", 1))
    raise ConfigError(f"Unknown player {spec!r}: expected {PLAYER_HELP}.")


def resolve_players(specs: list[str], game: str | None, size: int | None, komi: float | None, *,
                    simulations: int | None, depth: int | None, seed: int):
    """Players for `specs` and the one game they all play: `--game` (with `--size`, `--komi`) or the run folders'."""
    from striate.games import create

    players: list = [None] * len(specs)
    games = []
    for i, spec in enumerate(specs):
        if Path(spec).is_dir():
            players[i], own = load_folder_player(spec, simulations=simulations, depth=depth, seed=seed + i)
            games.append((spec, own))
        elif "/" in spec or spec.startswith("."):
            raise ConfigError(f"Invalid player {spec!r}: expected a run folder, found nothing there; check the path.")
    if game is not None:
        _check_game(game)
        board = create(game, **parse_game_options(game, size, komi))
    elif games:
        board = games[0][1]
        if size is not None or komi is not None:
            raise ConfigError("Invalid `--size`/`--komi`: a run folder plays its own board; drop them.")
    else:
        raise ConfigError(f"Invalid players {' and '.join(map(repr, specs))}: expected a run folder among them or "
                          f"--game to say which game they play.")
    for spec, own in games:
        if own.describe() != board.describe():
            raise ConfigError(f"Invalid player {spec!r}: it plays {own.describe()}, the match is {board.describe()}; "
                              f"match players of one game.")
    for i, spec in enumerate(specs):
        if players[i] is None:
            if spec.strip().startswith("gnugo") and board.name != "go":
                raise ConfigError(f"Invalid player {spec!r}: GNU Go plays go, not {board.name}; choose another "
                                  f"player.")
            players[i] = make_player(spec, seed=seed + i)
    return players, board


@games_app.command("train")
def train_command(
    game: str = typer.Argument("connect4", help="connect4, go or checkers"),
    size: int | None = typer.Option(None, "--size", help="go: board size [9]"),
    komi: float | None = typer.Option(None, "--komi", help="go: komi [7.5; 9 on 7x7]"),
    iterations: int | None = typer.Option(None, "--iterations", help="self-play and learning rounds [30; with "
                                                                     "--resume, the run's]"),
    games: int = typer.Option(64, "--games", help="self-play games per iteration"),
    simulations: int = typer.Option(64, "--simulations", help="tree-search simulations per move in self-play"),
    fast_simulations: int = typer.Option(0, "--fast-simulations", help="playout cap randomisation: simulations of "
                                                                       "the moves not learned from [0: off]"),
    full_fraction: float = typer.Option(0.25, "--full-fraction", help="with --fast-simulations, the share of moves "
                                                                      "searched in full and learned from"),
    temperature_moves: int = typer.Option(8, "--temperature-moves", help="opening actions drawn in proportion to "
                                                                           "visit counts (then the most visited)"),
    channels: int = typer.Option(48, "--channels", help="width of the residual tower"),
    blocks: int = typer.Option(4, "--blocks", help="residual blocks"),
    lr: float = typer.Option(2e-3, "--lr"),
    steps: int = typer.Option(200, "--steps", help="minibatch updates per iteration"),
    batch_size: int = typer.Option(128, "--batch-size"),
    window: int = typer.Option(60_000, "--window", help="latest positions (with symmetries) learned from"),
    workers: int = typer.Option(2, "--workers", help="self-play processes (0: in this process)"),
    eval_every: int = typer.Option(5, "--eval-every", help="iterations between matches against random and "
                                                           "alpha-beta"),
    eval_games: int = typer.Option(20, "--eval-games"),
    eval_depth: int = typer.Option(2, "--eval-depth", help="the alpha-beta opponent's depth"),
    seed: int = typer.Option(0, "--seed"),
    threads: int = typer.Option(1, "--threads", help="PyTorch threads for learning (self-play processes use one "
                                                     "each)"),
    out: Path = typer.Option(Path("runs"), "--out"),
    name: str | None = typer.Option(None, "--name", help="run folder name [az-GAME, numbered]"),
    resume: Path | None = typer.Option(None, "--resume", help="continue this run from its last checkpoint (with a "
                                                              "larger --iterations to train longer)"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Train a policy/value network by self-play with tree search (AlphaGo Zero / AlphaZero style)."""
    from striate.cli import console, user_errors
    from striate.games.training import AgentSettings, train_agent

    with user_errors():
        if resume is not None:
            run = train_agent(resume=resume, iterations=iterations, console=console, quiet=quiet)
        else:
            settings = AgentSettings(game=game, game_options=parse_game_options(game, size, komi),
                                     iterations=30 if iterations is None else iterations, games=games,
                                     simulations=simulations, fast_simulations=fast_simulations,
                                     full_fraction=full_fraction, temperature_moves=temperature_moves,
                                     channels=channels, blocks=blocks, lr=lr,
                                     steps=steps, batch_size=batch_size, window=window, workers=workers,
                                     eval_every=eval_every, eval_games=eval_games, eval_depth=eval_depth, seed=seed,
                                     threads=threads)
            _check_game(game)
            run = train_agent(settings, out=out, name=name, console=console, quiet=quiet)
    typer.echo(str(run))


@games_app.command("match")
def match_command(
    player_a: str = typer.Argument(..., help=f"player A: {PLAYER_HELP}"),
    player_b: str = typer.Argument(..., help="player B, as A"),
    game: str | None = typer.Option(None, "--game", help="connect4, go or checkers [the run folders' game]"),
    size: int | None = typer.Option(None, "--size", help="go: board size [9]"),
    komi: float | None = typer.Option(None, "--komi", help="go: komi [7.5; 9 on 7x7]"),
    games: int = typer.Option(20, "--games", "-n", help="games; colours alternate"),
    openings: int = typer.Option(0, "--openings", help="random actions that open each pair of games (both colours "
                                                       "play from the same opening), so deterministic players "
                                                       "meet in different games"),
    simulations: int | None = typer.Option(None, "--simulations", help="searches per move for run folders [the "
                                                                       "run's]"),
    depth: int | None = typer.Option(None, "--depth", help="search depth of an evolved checkers player [the depth "
                                                           "it evolved at]"),
    seed: int = typer.Option(0, "--seed"),
    records: Path | None = typer.Option(None, "--records", help="write every game's moves to this text file"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no line per game"),
) -> None:
    """Play a match between two players, colours alternating; a table of wins, draws and losses per colour with a
    95% interval of A's score and an Elo difference."""
    from striate.cli import user_errors
    from striate.games.match import play_match

    with user_errors():
        if games < 1:
            raise ConfigError(f"Invalid `--games`: expected at least 1, received {games}.")
        if openings < 0:
            raise ConfigError(f"Invalid `--openings`: expected 0 or more random actions, received {openings}.")
        (a, b), board = resolve_players([player_a, player_b], game, size, komi, simulations=simulations,
                                        depth=depth, seed=seed)

        def progress(record, match) -> None:
            if not quiet:
                typer.echo(f"game {match.games}/{games}: {record.result_text()}", err=True)

        try:
            result = play_match(board, a, b, games, seed=seed, on_game=progress, openings=openings)
        finally:
            for player in (a, b):
                close = getattr(player, "close", None)
                if close is not None:
                    close()
        if records is not None:
            from striate._io import atomic_write_text

            atomic_write_text(records, result.record())
    typer.echo(result.table())


@games_app.command("play")
def play_command(
    player: str = typer.Argument(..., help=f"the opponent: {PLAYER_HELP}"),
    game: str | None = typer.Option(None, "--game", help="the game when the opponent is not a run folder"),
    size: int | None = typer.Option(None, "--size", help="go: board size"),
    second: bool = typer.Option(False, "--second", help="let the opponent move first"),
    simulations: int | None = typer.Option(None, "--simulations", help="the agent's searches per move"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Play against an agent in the terminal: type moves as the board shows them (a column, 11-15 or 9x18, D4 or
    pass); `resign` gives up."""
    from striate.cli import user_errors
    from striate.games.match import play_game

    with user_errors():
        (opponent, human), board = resolve_players([player, "human"], game, size, None, simulations=simulations,
                                                   depth=None, seed=seed)
        human.name = "you"
        first, other = (opponent, human) if second else (human, opponent)
        record = play_game(board, first, other)
    typer.echo(record.result_text())


@games_app.command("evolve")
def evolve_command(
    generations: int = typer.Option(50, "--generations", help="generations (more on top of --resume's)"),
    population: int = typer.Option(15, "--population", help="parents; each has one offspring per generation"),
    depth: int = typer.Option(2, "--depth", help="alpha-beta depth of the players, in whole turns"),
    extend: int = typer.Option(0, "--extend", help="whole turns searched past --depth while a capture is forced"),
    games: int = typer.Option(5, "--games", help="games each player starts per generation against random others"),
    max_turns: int = typer.Option(100, "--max-turns", help="turns before a game counts as a draw"),
    seed: int = typer.Option(0, "--seed"),
    out: Path = typer.Option(Path("runs"), "--out"),
    name: str = typer.Option("evolved-checkers", "--name", help="run folder name [numbered]"),
    resume: Path | None = typer.Option(None, "--resume", help="continue this folder's population"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Co-evolve checkers evaluators without gradients or human games (Blondie24: Chellapilla & Fogel 1999-2001):
    91 sub-board units, 40 and 10 hidden units and the piece difference, self-adaptive mutation, +1/0/-2
    tournaments; the folder keeps the population and the best network (a player for `striate games match`)."""
    from striate.cli import user_errors
    from striate.games.evolve import evolve_checkers, load_population
    from striate.runs import mark_complete, new_run_dir

    with user_errors():
        for option, value, low in (("generations", generations, 1), ("population", population, 2),
                                   ("depth", depth, 1), ("extend", extend, 0), ("games", games, 1),
                                   ("max-turns", max_turns, 1)):
            if value < low:
                raise ConfigError(f"Invalid `--{option}`: expected at least {low}, received {value}.")
        start = None
        if resume is not None:
            start, folder = load_population(resume), Path(resume)
        else:
            folder = new_run_dir(out, name)

        def show(current, stats) -> None:
            if not quiet:
                typer.echo(f"generation {stats.generation}: best {stats.best:+.0f} points, K {stats.king:.2f}, "
                           f"first players {stats.wins}-{stats.draws}-{stats.losses} (W-D-L), {stats.seconds:.1f} s",
                           err=True)

        evolve_checkers(generations, population, depth, games, max_turns, seed, out=folder, start=start,
                        callback=show, extend=extend)
        mark_complete(folder)
    typer.echo(str(folder))


@games_app.command("report")
def report_command(
    run: Path = typer.Argument(..., help="a run folder of `striate games train`"),
    no_game: bool = typer.Option(False, "--no-game", help="skip the game against alpha-beta (seconds on Connect "
                                                          "Four, about a minute on 9x9 Go)"),
    seed: int = typer.Option(0, "--seed", help="seeds the opponent's tie-breaks in that game"),
) -> None:
    """Write RUN/report.html again: learning curve, every match, a game against alpha-beta drawn as a board,
    the network's first-move preferences, its layers and the settings; prints the page's path."""
    from striate.cli import user_errors
    from striate.games.report import write_games_report

    with user_errors():
        path = write_games_report(run, play=not no_game, seed=seed)
    typer.echo(str(path))


def _check_game(game: str) -> None:
    from striate.games import GAMES

    if game not in GAMES:
        from striate.errors import did_you_mean

        raise ConfigError(f"Unknown game {game!r}: expected one of {', '.join(GAMES)}.{did_you_mean(game, GAMES)}")
