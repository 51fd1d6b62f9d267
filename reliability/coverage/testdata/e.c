int check(int x)
{
	if (x < 0)
		return -EINVAL;
	if (x > 100)
		return -ERANGE;
	return 0;
}

int main(int argc, char **argv)
{
	return check(argc) + check(-argc) == -EINVAL ? 0 : 1;
}
