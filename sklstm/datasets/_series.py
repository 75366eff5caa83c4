"""Two classic forecasting series: airline passengers and electricity demand."""

import json
from importlib import resources

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils._param_validation import validate_params

AIRLINE_DESCR = """\
.. _airline_dataset:

Airline passengers
------------------

Monthly totals of international airline passengers, in thousands, from
January 1949 to December 1960: Box and Jenkins' series G. A trend and a
yearly season whose amplitude grows with the level.

**Data Set Characteristics:**

:Length: 144 months (1949-01 to 1960-12)
:Frequency: monthly; seasonal period 12
:Units: thousands of passengers
:Values: 104 to 622
:Source: aeon's Airline.csv; Box & Jenkins (1976) series G; R's
    ``datasets::AirPassengers``
:Licence: public-domain facts (the counts themselves); the R ``datasets``
    package that distributes them is GPL-2+

.. rubric:: References

- Box G.E.P., Jenkins G.M. (1976). Time Series Analysis: Forecasting and
  Control, revised edition. Holden-Day, San Francisco. Series G.
"""

TAYLOR_DESCR = """\
.. _taylor_dataset:

Electricity demand (Taylor)
---------------------------

Half-hourly electricity demand in England and Wales, in megawatts, for the
twelve weeks from Monday 5 June 2000 to Sunday 27 August 2000: 48 values a
day, with a daily and a weekly season (weekends are lower).

**Data Set Characteristics:**

:Length: 4032 half-hours (12 weeks from 2000-06-05 00:00)
:Frequency: 30 minutes; seasonal periods 48 (a day) and 336 (a week)
:Units: megawatts
:Values: 18640 to 38777
:Source: pmdarima's ``taylor``; Taylor (2003); R's ``forecast::taylor``
:Licence: public-domain facts (the measurements themselves); packaged in
    pmdarima (MIT)

.. rubric:: References

- Taylor J.W. (2003). Short-term electricity demand forecasting using double
  seasonal exponential smoothing. Journal of the Operational Research Society
  54(8):799-805.
"""


def _load_series(name, descr, unit, step):
    """The Bunch of series ``name``, its values ``step`` units ``unit`` apart."""
    path = resources.files("sklstm.datasets") / "data" / "forecasting_series.npz"
    with resources.as_file(path) as file, np.load(file, allow_pickle=False) as archive:
        meta = json.loads(str(archive["meta"]))[name]
        data = np.array(archive[name], dtype=np.float64)  # a fresh copy each call
    start = np.datetime64(meta["start"].replace(" ", "T"), unit)
    time = start + np.arange(len(data)) * np.timedelta64(step, unit)
    return Bunch(data=data, time=time, start=meta["start"], frequency=meta["freq"],
                 period=int(meta["period"]), units=meta["units"], DESCR=descr,
                 source=meta["source"], licence=meta["license"],
                 citation=meta["citation"])


@validate_params({}, prefer_skip_nested_validation=True)
def load_airline():
    """Load the airline series: monthly airline passengers, 1949 to 1960.

    =================  ==========================
    Values             144 (months, 1949-01 on)
    Seasonal period    12
    Units              thousands of passengers
    =================  ==========================

    Box and Jenkins' series G (1976), through aeon's ``Airline.csv`` (R's
    ``datasets::AirPassengers``). The counts are public-domain facts; the R
    ``datasets`` package that distributes them is GPL-2+. Read more in the
    ``DESCR`` of the returned Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with attributes:

        data : ndarray of shape (144,)
            The series, float64: a new array at each call, which the caller
            may change.
        time : ndarray of shape (144,), dtype datetime64[M]
            The month of each value.
        start : str
            ``"1949-01"``.
        frequency : str
            ``"monthly"``.
        period : int
            The seasonal period, 12.
        units : str
            ``"thousands of passengers"``.
        DESCR : str
            The description, with the source and the licence.
        source, licence, citation : str
            Where the values come from, their licence, and the reference
            to cite.

    See Also
    --------
    load_taylor : A long half-hourly series with two seasons.
    make_windows : Cut a series into (window, next values) pairs.

    Examples
    --------
    >>> from sklstm.datasets import load_airline
    >>> airline = load_airline()
    >>> airline.data.shape, airline.period, airline.data[:3]
    ((144,), 12, array([112., 118., 132.]))
    >>> str(airline.time[-1])
    '1960-12'
    """
    return _load_series("airline", AIRLINE_DESCR, "M", 1)


@validate_params({}, prefer_skip_nested_validation=True)
def load_taylor():
    """Load the taylor series: half-hourly electricity demand, summer 2000.

    =================  =====================================
    Values             4032 (half-hours, 2000-06-05 00:00 on)
    Seasonal periods   48 (a day) and 336 (a week)
    Units              megawatts
    =================  =====================================

    Electricity demand in England and Wales for the twelve weeks from
    Monday 5 June 2000 (Taylor 2003), through pmdarima's ``taylor`` (R's
    ``forecast::taylor``). The measurements are public-domain facts;
    pmdarima, which packages them, is MIT-licensed. Read more in the
    ``DESCR`` of the returned Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with attributes:

        data : ndarray of shape (4032,)
            The series, float64: a new array at each call, which the caller
            may change.
        time : ndarray of shape (4032,), dtype datetime64[m]
            The start of each half-hour.
        start : str
            ``"2000-06-05 00:00"``.
        frequency : str
            ``"30min"``.
        period : int
            The longer seasonal period, 336 (a week); the daily one is 48.
        units : str
            ``"megawatts"``.
        DESCR : str
            The description, with the source and the licence.
        source, licence, citation : str
            Where the values come from, their licence, and the reference
            to cite.

    See Also
    --------
    load_airline : A short monthly series with a trend.
    make_windows : Cut a series into (window, next values) pairs.

    Examples
    --------
    >>> from sklstm.datasets import load_taylor
    >>> taylor = load_taylor()
    >>> taylor.data.shape, taylor.period, taylor.data[:2]
    ((4032,), 336, array([22262., 21756.]))
    >>> str(taylor.time[-1])
    '2000-08-27T23:30'
    """
    return _load_series("taylor", TAYLOR_DESCR, "m", 30)
